TITLE xchan.mod   a channel of the divalent ion x (see xpool.mod)

COMMENT
A gated current of the new ion x (VALENCE 2), driven by ex, which xpool.mod's concentration sets
through the Nernst equation. Written for Sylva's import tests.
ENDCOMMENT

NEURON {
    SUFFIX xchan
    USEION x READ ex WRITE ix VALENCE 2
    RANGE gxbar
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gxbar = 5e-4 (S/cm2)   : peak conductance
}

STATE {
    s
}

ASSIGNED {
    v (mV)
    ex (mV)
    ix (mA/cm2)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ix = gxbar*s*(v - ex)
}

INITIAL {
    s = 1/(1 + exp(-(v + 40)/8))
}

DERIVATIVE states {
    s' = (1/(1 + exp(-(v + 40)/8)) - s)/5
}
