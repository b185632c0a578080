"""Rules of the resilient-rds policy pack.

One module per concern holds its policies as named constants (``network.py``, ``availability.py``,
``parameters.py``, ``credentials.py``, ``proxy.py``, ``storage_security.py``, ``monitoring.py``);
:mod:`.registry` lists them all.  The helpers they share each do one job:

- :mod:`.resource_types`: type tokens and how messages name a resource;
- :mod:`.property_values`: unknown values and coercion of property values;
- :mod:`.config_schemas`: policy config schemas and defaults;
- :mod:`.stack_index`: the stack a stack policy judges, with reference resolution;
- :mod:`.rds_lookups`: cross-resource lookups (parameter groups, proxy targets, replicas);
- :mod:`.policy_factory`: policy construction from a check function;
- :mod:`.rds_facts`: AWS facts (instance memory, RDS default formulas and their evaluator, reserved
  connections, the memory check), the one source the program's ``components/sizing.py`` imports too.

This file imports nothing: the program imports :mod:`.rds_facts` without loading any rule.
"""
