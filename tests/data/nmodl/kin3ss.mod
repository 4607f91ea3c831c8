TITLE kin3ss.mod   kin3.mod starting at its steady state

COMMENT
A sodium channel with closed, open and inactivated states, written for Sylva's import tests of
KINETIC blocks (METHOD sparse): rates in a PROCEDURE, a CONSERVE statement, and a COMPARTMENT
whose volume (the cross-section of the segment) scales every reaction, as NMODL divides each
flux by its states' volume (the rates are given per volume, so the volume cancels in the end:
a wrong translation of COMPARTMENT would change the rates by a factor of about 300). With a
COMPARTMENT, CONSERVE sums amounts (volume times state), so the total here is the volume and
the occupancies sum to 1.

    c <-> o   (a1, b1)     o <-> i   (a2, b2)     i <-> c   (a3, b3)
kin3ss is kin3.mod with `SOLVE kin STEADYSTATE sparse` in INITIAL, for the import tests of
STEADYSTATE.
ENDCOMMENT

NEURON {
    SUFFIX kin3ss
    USEION na READ ena WRITE ina
    RANGE gbar, g
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (um) = (micron)
    PI = (pi) (1)
}

PARAMETER {
    gbar = 0.08 (S/cm2) <0,1e9>   : peak conductance
    q10 = 2.5                       : temperature factor of the rates per 10 degC
}

ASSIGNED {
    v (mV)
    celsius (degC)
    diam (um)
    ena (mV)
    ina (mA/cm2)
    g (S/cm2)
    a1 (/ms)
    b1 (/ms)
    a2 (/ms)
    b2 (/ms)
    a3 (/ms)
    b3 (/ms)
}

STATE { c o i }

BREAKPOINT {
    SOLVE kin METHOD sparse
    g = gbar*o
    ina = g*(v - ena)
}

INITIAL {
    c = 1
    o = 0
    i = 0
    SOLVE kin STEADYSTATE sparse
}

KINETIC kin {
    rates(v)
    COMPARTMENT PI*diam*diam/4 {c o i}
    ~ c <-> o (a1*PI*diam*diam/4, b1*PI*diam*diam/4)
    ~ o <-> i (a2*PI*diam*diam/4, b2*PI*diam*diam/4)
    ~ i <-> c (a3*PI*diam*diam/4, b3*PI*diam*diam/4)
    : NMODL conserves amounts with a COMPARTMENT: the sum of volume times state.
    CONSERVE c + o + i = PI*diam*diam/4
}

PROCEDURE rates(v (mV)) {
    LOCAL tadj
    UNITSOFF
    tadj = q10^((celsius - 22)/10)
    a1 = tadj*2/(1 + exp(-(v + 38)/6))
    b1 = tadj*0.4*exp(-(v + 60)/20)
    a2 = tadj*1.2/(1 + exp(-(v + 45)/5))
    b2 = tadj*0.002*exp(-(v + 80)/15)
    a3 = tadj*0.01*exp(-(v + 85)/10)
    b3 = tadj*0.0005/(1 + exp(-(v + 40)/8))
    UNITSON
}
