"""The simulated team of bench/week.py: who works when (people.py) and what their VMs do under a policy (machines.py)."""
