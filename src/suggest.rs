//! "Did you mean": the closest known name to a misspelt one, so a typo costs one glance rather
//! than a trip to `claw skill list`.

/// ` (did you mean telegram?)` when one of `known` is within a third of `name`'s length in edits
/// (at least one), else nothing.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let limit = (name.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map_or_else(String::new, |(_, k)| format!(" (did you mean {k}?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_name_is_suggested_and_a_far_one_is_not() {
        assert_eq!(did_you_mean("telegarm", ["telegram", "whatsapp"]), " (did you mean telegram?)");
        assert_eq!(did_you_mean("whatsap", ["telegram", "whatsapp"]), " (did you mean whatsapp?)");
        assert_eq!(did_you_mean("gmail", ["telegram", "whatsapp"]), "");
    }
}
