NEURON {
    SUFFIX kd
    USEION k READ ek WRITE ik
}

PARAMETER { gbar = 0.01 (S/cm2) }

ASSIGNED { v (mV) ek (mV) ik (mA/cm2) ninf ntau (ms) celsius (degC) }

STATE { n }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar*n*(v - ek)
}

INITIAL { rates(v) n = ninf }

DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/ntau
}

PROCEDURE rates(v (mV)) {
    TABLE ninf, ntau DEPEND celsius FROM -100 TO 100 WITH 200
    ninf = 1/(1 + exp(-(v + 30)/10))
    ntau = 5
}
