"""Print the path of the built-in sample logdir."""

from tbtool.sample import path

print(path())
