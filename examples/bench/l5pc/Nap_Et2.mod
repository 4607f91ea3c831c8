COMMENT
Persistent sodium current, m3h. Equations of Nap_Et2.mod of Hay et al. (2011), ModelDB 139653,
after Magistretti & Alonso (1999); q10 = 2.3 from 21 to 34 degC (fixed).
ENDCOMMENT

NEURON {
    SUFFIX Nap_Et2
    USEION na READ ena WRITE ina
    RANGE gNap_Et2bar, gNap_Et2, ina
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNap_Et2bar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gNap_Et2 (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gNap_Et2 = gNap_Et2bar*m*m*m*h
    ina = gNap_Et2*(v - ena)
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
    mInf = 1.0/(1 + exp((v - -52.6)/-4.6))
    if (v == -38) {
        v = v + 0.0001
    }
    a = (0.182*(v - -38))/(1 - (exp(-(v - -38)/6)))
    b = (0.124*(-v - 38))/(1 - (exp(-(-v - 38)/6)))
    mTau = 6*(1/(a + b))/qt
    if (v == -17) {
        v = v + 0.0001
    }
    if (v == -64.4) {
        v = v + 0.0001
    }
    hInf = 1.0/(1 + exp((v - -48.8)/10))
    a = -2.88e-6*(v + 17)/(1 - exp((v + 17)/4.63))
    b = 6.94e-6*(v + 64.4)/(1 - exp(-(v + 64.4)/2.63))
    hTau = (1/(a + b))/qt
    UNITSON
}
