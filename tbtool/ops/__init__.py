"""Operations on logs (validate, check, export, merge, purge, clean, synth): each a library
function with a plain signature returning a result object; the CLI renders those results."""
