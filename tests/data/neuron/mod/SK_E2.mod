COMMENT
Small-conductance calcium-activated potassium current, no voltage dependence. Equations of
SK_E2.mod of Hay et al. (2011), PLoS Comput Biol 7:e1002107 (ModelDB 139653), after
Koehler et al. (1996), Science 273:1709:

    zInf = 1 / (1 + (0.00043 / ca)^4.8),  ca = cai, or cai + 1e-7 when cai < 1e-7 (mM)
    z' = (zInf - z) / zTau,  zTau = 1 ms
    ik = gSK_E2bar * z * (v - ek)

Written for Sylva's reference data (tests/data/neuron/regenerate_channels.py); Sylva's version
is compiler/stdlib/sk.syl.
ENDCOMMENT

NEURON {
    SUFFIX SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gSK_E2bar, gSK_E2, ik, zTau
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
    zInf
    ik (mA/cm2)
    gSK_E2 (S/cm2)
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
    LOCAL c
    c = ca
    if (c < 1e-7) {
        c = c + 1e-07
    }
    zInf = 1/(1 + (0.00043/c)^4.8)
}
