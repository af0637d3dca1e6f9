"""How a tbtool command presents itself: usage and help in the words a user types.

typer describes parameters by their Python types (``PATH <list[str]>``, ``{PATH}...``); a
tbtool command shows metavars instead (``PATH...``, ``KIND``, ``A:B``), ends its help with
runnable examples, accepts the old spellings of renamed options as hidden aliases, and turns
every usage error into the one line that tbtool's other errors are (contract.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

try:  # typer >= 0.2x vendors its own click; older ones use click itself
    from typer._click import exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions

UsageError = exceptions.UsageError
#: A bare ``tbtool`` prints the help (an "error" only to click; exit code 2 stays).
_HELP_ERRORS = tuple(
    error for error in (getattr(exceptions, "NoArgsIsHelpError", None),) if error is not None
)

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter, Parameter

#: Per command: its examples (shown at the end of its help) and hidden aliases (old spelling
#: -> the option it now is). Filled by :func:`tbtool.cli.app.command`.
EXAMPLES: dict[str, Sequence[str]] = {}
ALIASES: dict[str, dict[str, str]] = {}


class OneLineUsageError(UsageError):
    """A usage error shown as one line on stderr, like every other tbtool error, naming the
    help to read instead of reprinting the usage."""

    def show(self, file: Any = None) -> None:
        message = self.format_message()
        message = message[:1].lower() + message[1:]
        where = self.ctx.command_path if self.ctx is not None else "tbtool"
        typer.echo(f"tbtool: error: {message.rstrip('.')} (see '{where} --help')", err=True)

    @classmethod
    def of(cls, error: UsageError) -> UsageError:
        if isinstance(error, (cls, *_HELP_ERRORS)):
            return error
        line = cls(error.format_message(), ctx=error.ctx)
        line.exit_code = error.exit_code
        return line


def argument_metavar(param: Parameter) -> str:
    """``PATH``, ``PATH...`` for several, ``[PATH]`` when it may be left out."""
    name = param.metavar or (param.name or "ARG").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


class TbtoolCommand(TyperCommand):
    """A tbtool command (see the module docstring)."""

    def __init__(self, name: str | None, **attrs: Any) -> None:
        super().__init__(name, **attrs)
        self.examples = list(EXAMPLES.get(name or "", ()))
        self.aliases = {
            alias: self._option(target) for alias, target in ALIASES.get(name or "", {}).items()
        }

    def _option(self, name: str) -> Any:
        for param in self.params:
            if name in getattr(param, "opts", ()):
                return param
        raise LookupError(f"tbtool {self.name}: alias of an unknown option {name}")

    def make_parser(self, ctx: Context) -> Any:
        """The parser knows each alias as its option; help and error messages never see it
        (only the parser is built while the aliases are among the option's names)."""
        for alias, option in self.aliases.items():
            option.opts.append(alias)
        try:
            return super().make_parser(ctx)
        finally:
            for alias, option in self.aliases.items():
                option.opts.remove(alias)

    # -- usage and help -------------------------------------------------------------------
    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [argument_metavar(p) for p in self.get_params(ctx) if _is_argument(p)]

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if _is_argument(param):
                record = param.get_help_record(ctx)
                if record is not None:
                    name = param.metavar or (param.name or "").upper()
                    arguments.append((name + ("..." if param.nargs != 1 else ""), record[1]))
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                options.append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if self.examples:
            with formatter.section("Examples"):
                for example in self.examples:
                    formatter.write(f"{'':>{formatter.current_indent}}{example}\n")

    # -- errors ---------------------------------------------------------------------------
    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            raise OneLineUsageError.of(error) from None


def _is_argument(param: Parameter) -> bool:
    return param.param_type_name == "argument"
