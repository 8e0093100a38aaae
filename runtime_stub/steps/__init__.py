"""Built-in step implementations, one module per family of step types.

Each step is a function `run_<type>(ctx, inputs)` returning a StepResult or a dict;
a compiled flow imports only the modules of the step types it uses.
"""
