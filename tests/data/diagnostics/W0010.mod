NEURON {
    SUFFIX dimer
    NONSPECIFIC_CURRENT i
}

PARAMETER { kf = 0.5 (/ms) kb = 0.1 (/ms) gbar = 1e-4 (S/cm2) }

ASSIGNED { v (mV) i (mA/cm2) }

STATE { m d }

BREAKPOINT {
    SOLVE kin METHOD sparse
    i = gbar*d*(v + 80)
}

INITIAL { m = 1 d = 0 }

KINETIC kin {
    ~ m + m <-> d (kf, kb)
}
