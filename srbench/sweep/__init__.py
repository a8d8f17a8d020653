"""The sweep: pre-flight checks, the Tune trial that drives each training run, the Ray Train worker, and what
happens after Tune has run every trial."""
