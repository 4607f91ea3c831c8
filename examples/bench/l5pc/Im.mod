COMMENT
Muscarinic (M-type) potassium current, one gate. Equations of Im.mod of Hay et al. (2011),
ModelDB 139653, after Adams et al. (1982); q10 = 2.3 from 21 to 34 degC (fixed).
ENDCOMMENT

NEURON {
    SUFFIX Im
    USEION k READ ek WRITE ik
    RANGE gImbar, gIm, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gImbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gIm (S/cm2)
    mInf
    mTau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIm = gImbar*m
    ik = gIm*(v - ek)
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
    LOCAL qt, a, b
    qt = 2.3^((34 - 21)/10)
    UNITSOFF
    a = 3.3e-3*exp(2.5*0.04*(v - -35))
    b = 3.3e-3*exp(-2.5*0.04*(v - -35))
    mInf = a/(a + b)
    mTau = (1/(a + b))/qt
    UNITSON
}
