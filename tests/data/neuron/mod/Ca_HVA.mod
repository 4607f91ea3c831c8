COMMENT
High-voltage-activated calcium current, m^2 h, no temperature dependence. Equations of
Ca_HVA.mod of Hay et al. (2011), PLoS Comput Biol 7:e1002107 (ModelDB 139653), after
Reuveni, Friedman, Amitai & Gutnick (1993), J Neurosci 13:4609:

    m: alpha = 0.055 (-27 - v) / (exp((-27 - v)/3.8) - 1)   beta = 0.94 exp((-75 - v)/17)
    h: alpha = 0.000457 exp((-13 - v)/50)                    beta = 0.0065 / (exp((-v - 15)/28) + 1)
    (per ms, v in mV; v = -27 exactly is moved to -27 + 0.0001 to avoid 0/0)
    ica = gCa_HVAbar * m * m * h * (v - eca)

Written for Sylva's reference data (tests/data/neuron/regenerate_channels.py); Sylva's version
is compiler/stdlib/ca_hva.syl.
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
    mAlpha (/ms)
    mBeta (/ms)
    hInf
    hTau (ms)
    hAlpha (/ms)
    hBeta (/ms)
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
    LOCAL vv
    UNITSOFF
    vv = v
    if (vv == -27) {
        vv = vv + 0.0001
    }
    mAlpha = (0.055*(-27 - vv))/(exp((-27 - vv)/3.8) - 1)
    mBeta = (0.94*exp((-75 - vv)/17))
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/(mAlpha + mBeta)
    hAlpha = (0.000457*exp((-13 - vv)/50))
    hBeta = (0.0065/(exp((-vv - 15)/28) + 1))
    hInf = hAlpha/(hAlpha + hBeta)
    hTau = 1/(hAlpha + hBeta)
    UNITSON
}
