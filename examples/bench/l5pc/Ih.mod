COMMENT
Hyperpolarization-activated cation current, non-specific, reversal ehcn. Equations of Ih.mod of
Hay et al. (2011), ModelDB 139653, after Kole et al. (2006); no temperature dependence.
ENDCOMMENT

NEURON {
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gIhbar, gIh, ihcn
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gIhbar = 0.00001 (S/cm2)
    ehcn = -45.0 (mV)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
    gIh (S/cm2)
    mInf
    mTau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIh = gIhbar*m
    ihcn = gIh*(v - ehcn)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
}

INITIAL {
    rates()
    m = mInf
}

PROCEDURE rates() {
    LOCAL a, b
    UNITSOFF
    if (v == -154.9) {
        v = v + 0.0001
    }
    a = 0.001*6.43*(v + 154.9)/(exp((v + 154.9)/11.9) - 1)
    b = 0.001*193*exp(v/33.1)
    mInf = a/(a + b)
    mTau = 1/(a + b)
    UNITSON
}
