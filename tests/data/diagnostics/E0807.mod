NEURON {
    SUFFIX osc
    NONSPECIFIC_CURRENT i
}

PARAMETER { w = 0.1 (/ms) gbar = 1e-4 (S/cm2) }

ASSIGNED { v (mV) i (mA/cm2) }

STATE { x y }

INITIAL { x = 1 y = 0 }

BREAKPOINT {
    SOLVE states METHOD derivimplicit
    i = gbar*x*(v + 70)
}

DERIVATIVE states {
    x' = -w*y
    y' = w*x
}
