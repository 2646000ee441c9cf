"""Water accounting, pure core: totaliser intervals, 以电折水, calibration, totals, health."""
