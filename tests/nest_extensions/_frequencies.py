"""Sampling checks shared by the simulation tests of the nest extensions."""

from __future__ import annotations

import numpy as np


def z_scores(frequencies, probabilities, n):
    return (frequencies - probabilities) / np.sqrt(probabilities * (1 - probabilities) / n)
