//! Reconcile: what deploying a catalog would do to what is deployed. Pure, so `plan`, the
//! daemon and the tests share one implementation of the rules:
//!
//! * a valid file adds or updates its job;
//! * an invalid file never removes anything: a deployed job keeps its last good version;
//! * only a file that is gone removes its job;
//! * a catalog that would leave no job at all is held unless explicitly allowed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::catalog::{Catalog, InvalidFile};
use crate::job::{Job, JobId};

/// A job whose definition changes, with the keys that differ (`schedule`, `task.prompt`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    pub id: JobId,
    pub fields: Vec<String>,
}

/// The outcome of comparing a catalog with the deployed jobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub added: Vec<JobId>,
    pub changed: Vec<Update>,
    pub removed: Vec<JobId>,
    pub unchanged: Vec<JobId>,
    /// Deployed jobs whose file is now invalid: their last good version keeps running.
    pub kept: Vec<JobId>,
    /// Every invalid file, deployed or not.
    pub invalid: Vec<InvalidFile>,
    /// True when applying would leave no job and emptying was not allowed: nothing applies.
    pub held: bool,
}

impl Plan {
    /// Whether applying changes the schedule at all.
    pub fn changes_anything(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty())
    }
}

/// Compares `desired` with `deployed`.
pub fn plan(desired: &Catalog, deployed: &BTreeMap<JobId, Arc<Job>>, allow_empty: bool) -> Plan {
    let mut plan = Plan {
        invalid: desired.invalid.clone(),
        ..Plan::default()
    };
    for (id, job) in &desired.jobs {
        match deployed.get(id) {
            None => plan.added.push(id.clone()),
            Some(current) if current.definition_hash() == job.definition_hash() => {
                plan.unchanged.push(id.clone());
            }
            Some(current) => {
                let fields = changed_fields(&current.definition(), &job.definition());
                if fields.is_empty() {
                    plan.unchanged.push(id.clone());
                } else {
                    plan.changed.push(Update {
                        id: id.clone(),
                        fields,
                    });
                }
            }
        }
    }
    let invalid_ids: Vec<&JobId> = desired
        .invalid
        .iter()
        .filter_map(|f| f.id.as_ref())
        .collect();
    for id in deployed.keys() {
        if desired.jobs.contains_key(id) {
            continue;
        }
        if invalid_ids.contains(&id) {
            plan.kept.push(id.clone());
        } else {
            plan.removed.push(id.clone());
        }
    }
    let remaining = desired.jobs.len() + plan.kept.len();
    plan.held = remaining == 0 && !deployed.is_empty() && !allow_empty;
    plan
}

/// Top-level keys (and one level inside objects) whose values differ.
fn changed_fields(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return if old == new {
            vec![]
        } else {
            vec!["definition".into()]
        };
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut fields = Vec::new();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        match (a.and_then(|v| v.as_object()), b.and_then(|v| v.as_object())) {
            (Some(a), Some(b)) => {
                let mut inner: Vec<&String> = a.keys().chain(b.keys()).collect();
                inner.sort();
                inner.dedup();
                fields.extend(
                    inner
                        .into_iter()
                        .filter(|k| a.get(*k) != b.get(*k))
                        .map(|k| format!("{key}.{k}")),
                );
            }
            _ => fields.push(key.clone()),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{SourceContent, SourceFile, load};

    fn job_text(schedule: &str) -> String {
        format!(
            "name = \"x\"\nkind = \"agent\"\nschedule = \"{schedule}\"\n[agent]\nprompt = \"hi\"\n"
        )
    }

    fn catalog(files: &[(&str, &str)]) -> Catalog {
        let files: Vec<SourceFile> = files
            .iter()
            .map(|(id, text)| SourceFile {
                path: format!("jobs/{id}.toml"),
                id: id.to_string(),
                content: SourceContent::Text(text.to_string()),
            })
            .collect();
        load(&files)
    }

    fn ids(list: &[JobId]) -> Vec<&str> {
        list.iter().map(JobId::as_str).collect()
    }

    #[test]
    fn adds_updates_removes_and_keeps_last_good() {
        let daily = job_text("@daily");
        let hourly = job_text("@hourly");
        let deployed = catalog(&[("a", &daily), ("b", &daily), ("c", &daily), ("d", &daily)]).jobs;
        let desired = catalog(&[
            ("a", &daily),
            ("b", &hourly),
            ("d", "broken ="),
            ("e", &daily),
            ("f", "name = 1"),
        ]);
        let plan = plan(&desired, &deployed, false);
        assert_eq!(ids(&plan.added), ["e"]);
        assert_eq!(plan.changed.len(), 1);
        assert_eq!(plan.changed[0].id.as_str(), "b");
        assert_eq!(plan.changed[0].fields, ["schedule.cron"]);
        assert_eq!(
            ids(&plan.removed),
            ["c"],
            "only the deleted file removes a job"
        );
        assert_eq!(
            ids(&plan.kept),
            ["d"],
            "the broken file keeps its last good version"
        );
        assert_eq!(ids(&plan.unchanged), ["a"]);
        assert_eq!(plan.invalid.len(), 2);
        assert!(!plan.held);
    }

    #[test]
    fn a_catalog_that_empties_everything_is_held() {
        let deployed = catalog(&[("a", &job_text("@daily"))]).jobs;
        let empty = catalog(&[]);
        assert!(plan(&empty, &deployed, false).held);
        assert!(!plan(&empty, &deployed, true).held);
        assert!(
            !plan(&empty, &BTreeMap::new(), false).held,
            "nothing to lose"
        );
        let broken = catalog(&[("a", "oops")]);
        assert!(
            !plan(&broken, &deployed, false).held,
            "a broken file keeps its job"
        );
    }
}
