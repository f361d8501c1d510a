use crate::checks::Findings;
use crate::container::ContainerView;
use crate::policy::Policy;

pub fn check(_view: &ContainerView, _policy: &Policy, _findings: &mut Findings) {}
