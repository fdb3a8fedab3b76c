"""Flows: graphs of typed nodes that compile to Step Functions state machines.

The pure core: ``graph`` (the model the API stores), ``validation`` (every problem at once), ``compiler`` (to
Amazon States Language) and ``contract`` (what the state machine and the node-runner Lambda pass each other).
"""
