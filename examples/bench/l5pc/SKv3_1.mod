COMMENT
Kv3.1 fast delayed-rectifier potassium current, one gate. Equations of SKv3_1.mod of Hay et
al. (2011), ModelDB 139653, after Rettig et al. (1992); no temperature dependence.
ENDCOMMENT

NEURON {
    SUFFIX SKv3_1
    USEION k READ ek WRITE ik
    RANGE gSKv3_1bar, gSKv3_1, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gSKv3_1bar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gSKv3_1 (S/cm2)
    mInf
    mTau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSKv3_1 = gSKv3_1bar*m
    ik = gSKv3_1*(v - ek)
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
    UNITSOFF
    mInf = 1/(1 + exp(((v - (18.700))/(-9.700))))
    mTau = 0.2*20.000/(1 + exp(((v - (-46.560))/(-44.140))))
    UNITSON
}
