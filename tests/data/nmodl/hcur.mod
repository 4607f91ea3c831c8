TITLE hcur.mod   a current of a new ion h, in the style of Ih.mod (ModelDB 3343)

COMMENT
USEION h with VALENCE 1: NEURON defines the ion h with its defaults for a new ion (eh = 0 mV,
hi = ho = 1 mM). The PARAMETER eh is the ion's variable, so its value here is not used.
Written for Sylva's import tests.
ENDCOMMENT

NEURON {
    SUFFIX hcur
    USEION h READ eh WRITE ih VALENCE 1
    RANGE ghbar
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    eh = -40 (mV)
    ghbar = 2e-4 (S/cm2)   : peak conductance
}

STATE {
    m
}

ASSIGNED {
    v (mV)
    ih (mA/cm2)
    minf
    mtau (ms)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ih = ghbar*m*(v - eh)
}

INITIAL {
    rates(v)
    m = minf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
}

PROCEDURE rates(v (mV)) {
    UNITSOFF
    minf = 1/(1 + exp((v + 75)/5.5))
    mtau = 20 + 1000/(exp((v + 71.5)/14.2) + exp(-(v + 89)/11.6))
    UNITSON
}
