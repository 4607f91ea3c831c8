NEURON {
    SUFFIX cabuf
    NONSPECIFIC_CURRENT i
}

PARAMETER { kf = 1 (/mM-ms) kb = 0.1 (/ms) gbar = 1e-4 (S/cm2) }

ASSIGNED { v (mV) i (mA/cm2) }

STATE { x (mM) b (mM) bx (mM) }

BREAKPOINT {
    SOLVE kin METHOD sparse
    i = gbar*bx*(v + 80)
}

INITIAL { x = 0.001 b = 0.1 bx = 0 }

KINETIC kin {
    ~ x << (0.001)
    ~ x + b <-> bx (kf, kb)
}
