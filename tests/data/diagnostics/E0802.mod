NEURON {
    SUFFIX leak
    NONSPECIFIC_CURRENT i
}

PARAMETER {
    g = 0.001 (S/cm2)
    e = -65 (mV)
}

ASSIGNED { v (mV) i (mA/cm2) }

BREAKPOINT {
    i = g*(v - e)
}

VERBATIM
static double twice(double x) { return 2*x; }
ENDVERBATIM
