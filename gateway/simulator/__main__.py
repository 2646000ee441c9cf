"""`python -m gateway.simulator --config FILE`: the simulated well as a separate process."""

from gateway.simulator.runner import main

main()
