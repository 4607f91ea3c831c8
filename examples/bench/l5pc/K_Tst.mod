COMMENT
Fast, transient potassium current, m4h. Equations of K_Tst.mod of Hay et al. (2011), ModelDB
139653, after Korngreen & Sakmann (2000), shifted by -10 mV (junction potential); q10 = 2.3.
ENDCOMMENT

NEURON {
    SUFFIX K_Tst
    USEION k READ ek WRITE ik
    RANGE gK_Tstbar, gK_Tst, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Tstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gK_Tst (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE { m h }

BREAKPOINT {
    SOLVE states METHOD cnexp
    gK_Tst = gK_Tstbar*(m^4)*h
    ik = gK_Tst*(v - ek)
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
    mInf = 1/(1 + exp(-(v + 0)/19))
    mTau = (0.34 + 0.92*exp(-((v + 71)/59)^2))/qt
    hInf = 1/(1 + exp(-(v + 66)/-10))
    hTau = (8 + 49*exp(-((v + 73)/23)^2))/qt
    v = v - 10
    UNITSON
}
