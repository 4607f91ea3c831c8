COMMENT
One side of a gap junction (an electrical synapse): i = g * (v - vgap), with vgap the voltage of
the other cell read through a POINTER. A junction that couples two cells is two of these, each
pointing at the other cell's v. The current is explicit in vgap (its value at the start of the
step) and implicit in v (NEURON's di/dv). Written for Sylva's reference data
(tests/data/neuron/regenerate_channels.py); Sylva's version is compiler/stdlib/gap_junction.syl.
ENDCOMMENT

NEURON {
    POINT_PROCESS Gap
    POINTER vgap
    NONSPECIFIC_CURRENT i
    RANGE g
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER { g = 0.001 (uS) }

ASSIGNED {
    v (mV)
    vgap (mV)
    i (nA)
}

BREAKPOINT { i = g * (v - vgap) }
