TITLE oldstyle.mod   a sodium channel in the style of older ModelDB files

COMMENT
Written for Sylva's import tests: the constructs of older ModelDB files that the translation
handles. INDEPENDENT, a file-level LOCAL shared by the procedures, a temperature factor tadj
that only INITIAL computes (GLOBAL, read by the other blocks), a current INITIAL assigns, a
guard that changes the copy of v a block computes with (as in Hay et al. 2011's channels), a
unit with a blank (/ms mM), and SUFFIX na, which is also the name of a species in Sylva.
ENDCOMMENT

INDEPENDENT {t FROM 0 TO 1 WITH 1 (ms)}

NEURON {
    SUFFIX na
    USEION na READ ena WRITE ina
    RANGE gbar, gna
    GLOBAL tadj, q10, temp
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
    (mM) = (milli/liter)
}

PARAMETER {
    gbar = 800 (pS/um2)    : peak conductance
    q10 = 2.3              : temperature factor per 10 degC
    temp = 23 (degC)       : temperature of the measurements
    vshift = -5 (mV)       : shift of both gates
    krate = 4 (/ms mM)     : rate per concentration, times the 0.25 mM of the recordings
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ina (mA/cm2)
    gna (pS/um2)
    minf
    hinf
    mtau (ms)
    htau (ms)
    tadj
}

LOCAL vs

STATE { m h }

INITIAL {
    tadj = q10^((celsius - temp)/10)
    rates()
    m = minf
    h = hinf
    ina = (1e-4)*tadj*gbar*m*m*m*h*(v - ena)    : initial current value
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = tadj*gbar*m*m*m*h
    ina = (1e-4)*gna*(v - ena)
}

DERIVATIVE states {
    rates()
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}

PROCEDURE rates() {
    UNITSOFF
    if (v == -35) {
        v = v + 0.0001
    }
    vs = v + vshift
    minf = 1/(1 + exp(-(vs + 35)/7))
    mtau = (0.1 + 1/(krate*0.25*(exp((vs + 40)/12) + exp(-(vs + 40)/15))))/tadj
    hinf = 1/(1 + exp((vs + 60)/6))
    htau = (0.5 + 8/(exp((vs + 55)/9) + exp(-(vs + 55)/18)))/tadj
    UNITSON
}
