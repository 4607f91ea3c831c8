COMMENT
Hodgkin-Huxley's delayed-rectifier potassium channel (Hodgkin & Huxley 1952, as in NEURON's
hh.mod) written as the equivalent five-state Markov scheme of four independent n-subunits
(cf. NEURON's demo khhchan.mod):

    c1 <-> c2 <-> c3 <-> c4 <-> o
    forward 4an, 3an, 2an, an;  backward bn, 2bn, 3bn, 4bn
    an = q10 * 0.01 * vtrap(-(v + 55), 10),  bn = q10 * 0.125 * exp(-(v + 65)/80)
    q10 = 3^((celsius - 6.3)/10),  vtrap as in hh.mod
    ik = gkbar * o * (v - ek)

Solved with METHOD sparse (backward Euler). kinss is tests/data/neuron/mod/kinetic_k.mod with
INITIAL's binomial distribution replaced by `SOLVE kin STEADYSTATE sparse`, for the import tests
of STEADYSTATE.
ENDCOMMENT

NEURON {
    SUFFIX kinss
    USEION k READ ek WRITE ik
    RANGE gkbar, gk
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gkbar = 0.036 (S/cm2)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ek (mV)
    ik (mA/cm2)
    gk (S/cm2)
    an (/ms)
    bn (/ms)
    ninf
}

STATE { c1 c2 c3 c4 o }

BREAKPOINT {
    SOLVE kin METHOD sparse
    gk = gkbar*o
    ik = gk*(v - ek)
}

INITIAL {
    c1 = 1
    SOLVE kin STEADYSTATE sparse
}

KINETIC kin {
    rates(v)
    ~ c1 <-> c2 (4*an, bn)
    ~ c2 <-> c3 (3*an, 2*bn)
    ~ c3 <-> c4 (2*an, 3*bn)
    ~ c4 <-> o (an, 4*bn)
    CONSERVE c1 + c2 + c3 + c4 + o = 1
}

PROCEDURE rates(v (mV)) {
    LOCAL q10
    UNITSOFF
    q10 = 3^((celsius - 6.3)/10)
    an = q10*0.01*vtrap(-(v + 55), 10)
    bn = q10*0.125*exp(-(v + 65)/80)
    ninf = an/(an + bn)
    UNITSON
}

FUNCTION vtrap(x, y) {
    if (fabs(x/y) < 1e-6) {
        vtrap = y*(1 - x/y/2)
    } else {
        vtrap = x/(exp(x/y) - 1)
    }
}
