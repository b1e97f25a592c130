"""Helpers with no knowledge of training.

* `validation`: argument checks with messages that say what to do.
* `hyperparameters`: weights held in variables (tunable, schedulable).
* `api_export`: registration for Keras serialization under one package name.
* `deprecation`: renamed arguments and names, each with its removal version.
* `vocabulary`: the one name of each concept, and what `scale=` means per term.
"""

# Internal: import the modules themselves; nothing is re-exported here.
__all__ = []
