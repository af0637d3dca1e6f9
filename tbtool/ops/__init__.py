"""Operations on logs: each a library function with a plain signature returning a result
object; the CLI renders those results (and nothing here imports typer or rich).

By command:

- validate: ``validate`` (files and values), ``validate_logdir`` (the logdir as a whole),
  ``validate_codes`` (the catalogue of finding codes), ``findings`` (what validate and
  check report).
- check: ``check``. summary: ``summary``. diff: ``diff``. dump: ``dump``. watch: ``watch``.
- export: ``export`` (the driver), ``export_sinks`` (Parquet, CSV, JSON lines),
  ``export_media`` (images and audio as files), ``export_output`` (staged, atomic output).
- report and plot: ``report``, ``report_data`` (what the HTML report draws), ``plot``.
- merge: ``merge``, ``merge_plan`` (the columnar engine), ``merge_salvage`` (damaged
  sources), ``merge_in_place``.
- purge: ``purge_steps`` (the command), ``purge_rules`` (which values a rewrite drops).
- clean: ``clean``.
- shared by the rewriting commands: ``rewrite`` (verified atomic replacement, backups),
  ``splice`` (a new file as stretches of its sources), ``output`` (never over an input,
  through temporaries).
- synth: the ``synth`` package.
"""
