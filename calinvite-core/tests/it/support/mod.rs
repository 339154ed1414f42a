//! Helpers for the property tests: generators, message and calendar
//! inspection, and the way back from a parsed calendar to the core model.

pub(crate) mod inspect;
pub(crate) mod rebuild;
pub(crate) mod strategies;

use std::sync::Mutex;

use calinvite_core::{DefaultTemplate, RenderedText, Template, TemplateContext};

/// The default template, keeping a copy of what it rendered last so a test can
/// compare the decoded bodies with it.
#[derive(Default)]
pub(crate) struct RecordingTemplate {
    last: Mutex<Option<RenderedText>>,
}

impl RecordingTemplate {
    pub(crate) fn last(&self) -> RenderedText {
        self.last
            .lock()
            .expect("not poisoned")
            .clone()
            .expect("the composer rendered")
    }
}

impl Template for RecordingTemplate {
    fn render(&self, ctx: &TemplateContext<'_>) -> RenderedText {
        let r = DefaultTemplate.render(ctx);
        *self.last.lock().expect("not poisoned") = Some(r.clone());
        r
    }
}
