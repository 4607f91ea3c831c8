TITLE kdr2.mod   delayed-rectifier potassium channel (for Sylva's import tests)

NEURON {
    SUFFIX kdr2
    USEION k READ ek WRITE ik
    RANGE gbar, gk, ninf, ntau
    GLOBAL q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.03 (S/cm2) <0,1e9>
    q10 = 3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ek (mV)
    ik (mA/cm2)
    gk (S/cm2)
    ninf
    ntau (ms)
}

STATE { n }

INITIAL {
    rates(v)
    n = ninf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gk = gbar*n^4
    ik = gk*(v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/ntau
}

PROCEDURE rates(v (mV)) {
    LOCAL alpha, beta, tadj
    tadj = q10^((celsius - 6.3)/10)
    alpha = 0.016*(35.1 - v)/(exp((35.1 - v)/5) - 1)
    if (v == 35.1) {
        alpha = 0.016*5
    }
    beta = 0.25*exp((20 - v)/40)
    ntau = 1/(tadj*(alpha + beta))
    ninf = alpha/(alpha + beta)
}
