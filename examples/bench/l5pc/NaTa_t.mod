COMMENT
Transient sodium current, m3h. Equations of NaTa_t.mod of Hay et al. (2011), ModelDB 139653,
after Colbert & Pan (2002); rates at 21 degC scaled by q10 = 2.3 to 34 degC (fixed, not celsius).
ENDCOMMENT

NEURON {
    SUFFIX NaTa_t
    USEION na READ ena WRITE ina
    RANGE gNaTa_tbar, gNaTa_t, ina
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNaTa_tbar = 0.00001 (S/cm2)   : peak conductance
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gNaTa_t (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gNaTa_t = gNaTa_tbar*m*m*m*h
    ina = gNaTa_t*(v - ena)
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
    LOCAL qt, a, b
    qt = 2.3^((34 - 21)/10)
    UNITSOFF
    if (v == -38) {
        v = v + 0.0001    : the removable 0/0 of the activation rates
    }
    a = (0.182*(v - -38))/(1 - (exp(-(v - -38)/6)))
    b = (0.124*(-v - 38))/(1 - (exp(-(-v - 38)/6)))
    mTau = (1/(a + b))/qt
    mInf = a/(a + b)
    if (v == -66) {
        v = v + 0.0001
    }
    a = (-0.015*(v - -66))/(1 - (exp((v - -66)/6)))
    b = (-0.015*(-v - 66))/(1 - (exp((-v - 66)/6)))
    hTau = (1/(a + b))/qt
    hInf = a/(a + b)
    UNITSON
}
