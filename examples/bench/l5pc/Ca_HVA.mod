COMMENT
High-voltage-activated calcium current, m2h, reversal eca from the concentrations. Equations of
Ca_HVA.mod of Hay et al. (2011), ModelDB 139653, after Reuveni et al. (1993).
ENDCOMMENT

NEURON {
    SUFFIX Ca_HVA
    USEION ca READ eca WRITE ica
    RANGE gCa_HVAbar, gCa_HVA, ica
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_HVAbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    gCa_HVA (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gCa_HVA = gCa_HVAbar*m*m*h
    ica = gCa_HVA*(v - eca)
}

DERIVATIVE states {
    rates()
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

INITIAL {
    rates()
    m = mInf
    h = hInf
}

PROCEDURE rates() {
    LOCAL a, b
    UNITSOFF
    if (v == -27) {
        v = v + 0.0001
    }
    a = (0.055*(-27 - v))/(exp((-27 - v)/3.8) - 1)
    b = (0.94*exp((-75 - v)/17))
    mInf = a/(a + b)
    mTau = 1/(a + b)
    a = (0.000457*exp((-13 - v)/50))
    b = (0.0065/(exp((-v - 15)/28) + 1))
    hInf = a/(a + b)
    hTau = 1/(a + b)
    UNITSON
}
