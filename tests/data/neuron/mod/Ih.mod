COMMENT
Hyperpolarization-activated cation current (HCN), non-specific, reversal ehcn = -45 mV, no
temperature dependence. Equations of Ih.mod of Hay et al. (2011), PLoS Comput Biol 7:e1002107
(ModelDB 139653), after Kole, Hallermann & Stuart (2006), J Neurosci 26:1677:

    m: alpha = 0.001 * 6.43 (v + 154.9) / (exp((v + 154.9)/11.9) - 1)
       beta  = 0.001 * 193 exp(v/33.1)                         (per ms, v in mV;
       v = -154.9 exactly is moved to -154.9 + 0.0001 to avoid 0/0)
    ihcn = gIhbar * m * (v - ehcn)

Written for Sylva's reference data (tests/data/neuron/regenerate_channels.py); Sylva's version
is compiler/stdlib/ih.syl.
ENDCOMMENT

NEURON {
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gIhbar, gIh, ihcn, ehcn
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
    mAlpha (/ms)
    mBeta (/ms)
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
    LOCAL vv
    UNITSOFF
    vv = v
    if (vv == -154.9) {
        vv = vv + 0.0001
    }
    mAlpha = 0.001*6.43*(vv + 154.9)/(exp((vv + 154.9)/11.9) - 1)
    mBeta = 0.001*193*exp(vv/33.1)
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/(mAlpha + mBeta)
    UNITSON
}
