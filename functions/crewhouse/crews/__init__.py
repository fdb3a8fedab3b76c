"""Hosted agents and crews (issue 15): agents Crewhouse runs with the shared Converse tool loop, and crews of them
run as Step Functions executions."""
