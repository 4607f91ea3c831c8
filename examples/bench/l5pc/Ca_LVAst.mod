COMMENT
Low-voltage-activated (T-type) calcium current, m2h. Equations of Ca_LVAst.mod of Hay et al.
(2011), ModelDB 139653, after Avery & Johnston (1996) and Randall & Tsien (1997), shifted by
-10 mV; q10 = 2.3 from 21 to 34 degC (fixed).
ENDCOMMENT

NEURON {
    SUFFIX Ca_LVAst
    USEION ca READ eca WRITE ica
    RANGE gCa_LVAstbar, gCa_LVAst, ica
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_LVAstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    gCa_LVAst (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gCa_LVAst = gCa_LVAstbar*m*m*h
    ica = gCa_LVAst*(v - eca)
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
    LOCAL qt
    qt = 2.3^((34 - 21)/10)
    UNITSOFF
    v = v + 10
    mInf = 1.0000/(1 + exp((v - -30.000)/-6))
    mTau = (5.0000 + 20.0000/(1 + exp((v - -25.000)/5)))/qt
    hInf = 1.0000/(1 + exp((v - -80.000)/6.4))
    hTau = (20.0000 + 50.0000/(1 + exp((v - -40.000)/7)))/qt
    v = v - 10
    UNITSON
}
