//! NET_RECEIVE to Sylva's `on event(w: unit) { … }`.

use super::*;

impl Tx<'_> {
    /// The NET_RECEIVE block as the text of an event handler (`None` without one).
    pub(super) fn net_receive(&mut self, iface: &Interface) -> Option<String> {
        let file = self.file;
        let (params, body, span) = file.items.iter().find_map(|i| match i {
            Item::NetReceive { params, body, span } => Some((params, body, *span)),
            _ => None,
        })?;
        if !iface.point {
            self.event_error(span, "NET_RECEIVE in a density mechanism", "only a POINT_PROCESS receives events");
            return None;
        }
        let [(weight, weight_span, unit)] = params.as_slice() else {
            self.event_error(
                span,
                "NET_RECEIVE with more than one argument cannot be translated",
                "Sylva's events carry one weight",
            );
            return None;
        };
        let unit = self.unit(unit.as_ref().map(|u| (u.clone(), *weight_span)).as_ref());
        self.block = BlockKind::NetReceive;
        let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
        env.frames[0].insert(weight.clone(), strip(&sylva_name(weight), &unit));
        self.stmts(body, &mut env);
        let assigns = self.event_assignments(&env, span)?;
        Some(format!("on event({}: {}) {{ {} }}", sylva_name(weight), unit_type(&unit), assigns.join(", ")))
    }

    fn event_error(&mut self, span: Span, message: &str, label: &str) {
        self.diagnostics.push(Diagnostic::error(Code::NmodlNetReceive, span, message).label(label));
    }

    /// The states NET_RECEIVE changes, each as a function of the values before the event. Sylva
    /// runs the assignments in order, so none may read a state another one changes (E0806).
    fn event_assignments(&mut self, env: &Env, span: Span) -> Option<Vec<String>> {
        let mut changed: Vec<(&String, &Out)> = env.globals.iter().collect();
        changed.sort_by_key(|(k, _)| self.file_order(k));
        let names: Vec<String> = changed.iter().map(|(k, _)| sylva_name(k)).collect();
        let mut out = Vec::new();
        for (k, v) in &changed {
            let reads = self.names_read(&v.text);
            let own = sylva_name(k);
            if let Some(other) = names.iter().find(|n| **n != own && reads.contains(*n)) {
                self.event_error(
                    span,
                    &format!("the new `{k}` reads `{other}`, which this NET_RECEIVE also changes"),
                    "states that depend on each other",
                );
                return None;
            }
            out.push(format!("{own} = {}", v.text));
        }
        if out.is_empty() {
            self.event_error(span, "this NET_RECEIVE changes no STATE", "nothing to translate");
            return None;
        }
        Some(out)
    }
}
