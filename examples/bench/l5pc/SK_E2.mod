COMMENT
Small-conductance calcium-activated potassium current (the Ca-dependent K of the set), no
voltage dependence. Equations of SK_E2.mod of Hay et al. (2011), ModelDB 139653, after Koehler
et al. (1996): zInf = 1/(1 + (0.00043 mM/cai)^4.8), zTau = 1 ms.
ENDCOMMENT

NEURON {
    SUFFIX SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gSK_E2bar, gSK_E2, ik
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
}

PARAMETER {
    gSK_E2bar = 0.000001 (mho/cm2)
    zTau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
    gSK_E2 (S/cm2)
    zInf
}

STATE { z FROM 0 TO 1 }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSK_E2 = gSK_E2bar*z
    ik = gSK_E2*(v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zInf - z)/zTau
}

INITIAL {
    rates(cai)
    z = zInf
}

PROCEDURE rates(ca (mM)) {
    if (ca < 1e-7) {
        ca = ca + 1e-07    : keeps the power finite at zero calcium
    }
    zInf = 1/(1 + (0.00043/ca)^4.8)
}
