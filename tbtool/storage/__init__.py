"""Where bytes live: local paths through the OS, URLs through fsspec.

Every module that opens, lists, sizes, writes or deletes event data asks here, so a PATH may
be a local path or any fsspec URL (``s3://``, ``gs://``, ``memory://``, ``file://``, chained
``simplecache::s3://``...). Local paths take exactly the OS calls they always took (``open``,
``os.stat``, ``os.walk``): the common case pays one string test. URLs go through fsspec:

* a "directory" is a key prefix: runs are found by *listing* every object below it
  (object stores have no directories, format.md §6.2);
* objects are read with buffered, ranged reads (:mod:`tbtool.storage.remote_file`), or from a local
  copy when a caller reads them several times (:mod:`tbtool.storage.spool`);
* objects are written whole (:func:`upload`, :func:`write_bytes`): an object store replaces
  an object atomically when the upload completes, so nobody ever sees a partial one.

Credentials come from wherever the filesystem package looks (``AWS_*`` variables and
profiles for s3fs, ``GOOGLE_APPLICATION_CREDENTIALS`` / gcloud for gcsfs, ``FSSPEC_*``
variables); tbtool never prints them.

The storage layer, by module (``from tbtool import storage`` gives all of their public names):

- ``paths``: local paths and URLs as names: ``is_url``, ``join``, ``parent``, ``relative``,
  ``within``, ``overlaps``.
- ``filesystems``: facts (``stat``, ``isdir``, ``list_files``, ``walk_files``) and changes
  (``write_bytes``, ``upload``, ``copy``, ``move``, ``remove``) of files and objects.
- ``inputs``: ``open_input``, the one way event files are opened for reading.
- ``remote_file``: ranged, read-ahead reads of one remote object (a growing one too).
- ``spool``: local copies of remote objects read more than once, downloaded ahead of need.
- ``temporaries``: the temporary names commands write under, and leftovers of killed ones.
"""

from tbtool.storage.filesystems import (
    EXTRAS,
    OBJECT_STORES,
    STAT_TTL,
    FileInfo,
    MissingDependency,
    StorageError,
    copy,
    download,
    exists,
    fetch,
    file_names,
    filesystem,
    forget,
    is_object_store,
    isdir,
    isfile,
    list_files,
    listdir,
    makedirs,
    move,
    mtime,
    remote_errors,
    remove,
    remove_empty_dirs,
    remove_tree,
    size,
    stat,
    upload,
    walk,
    walk_files,
    write_bytes,
)
from tbtool.storage.inputs import LocalInput, local_path, open_input, read_bytes, readable_size
from tbtool.storage.paths import (
    basename,
    inside,
    is_url,
    join,
    overlaps,
    parent,
    protocol,
    relative,
    trim,
    within,
)

__all__ = [
    "EXTRAS", "OBJECT_STORES", "STAT_TTL", "FileInfo", "LocalInput", "MissingDependency",
    "StorageError", "basename", "copy", "download", "exists", "fetch", "file_names",
    "filesystem", "forget", "inside", "is_object_store", "is_url", "isdir", "isfile", "join",
    "list_files", "listdir", "local_path", "makedirs", "move", "mtime", "open_input",
    "overlaps", "parent", "protocol", "read_bytes", "readable_size", "relative",
    "remote_errors", "remove", "remove_empty_dirs", "remove_tree", "size", "stat", "trim",
    "upload", "walk", "walk_files", "within", "write_bytes",
]  # fmt: skip
