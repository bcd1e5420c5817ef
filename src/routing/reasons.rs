//! The reasons a person reads beside each candidate: the words matched and what they matched,
//! closeness in meaning, life events, audience, eligibility, delivery, channels and the published
//! standard. Built for the returned candidates only.

use super::{
    Candidate, ChannelFit, HandTo, Query, Reason, ReasonKind,
    knowledge::Knowledge,
    rank::{Evidence, audience, hand_to_agency, without_noise},
    text::normalize,
    vectors,
};
use crate::{
    catalog::Snapshot,
    domain::{
        catalog::{Channel, Service, Text},
        citizen::record::AccessibilityNeed,
        routing::{Audience, ClientKind, Context, Status},
    },
};

fn text(en: impl Into<String>, fr: impl Into<String>) -> Text {
    Text {
        en: en.into(),
        fr: fr.into(),
    }
}

fn reason(kind: ReasonKind, text: Text) -> Reason {
    Reason {
        kind,
        text,
        matches: Vec::new(),
    }
}

/// The agency to hand `service` to, why, and the delivery reason text when it is a partner.
pub(super) fn hand_to(
    service: &Service,
    query: &Query,
    knowledge: &Knowledge,
) -> (String, HandTo, Option<Text>) {
    let (agency, why, partner) = hand_to_agency(service, query, knowledge);
    let delivery = match why {
        HandTo::Owner => None,
        HandTo::EntryAgency => Some(text(
            format!("{agency}, where the citizen already is, delivers this service itself"),
            format!("{agency}, où la personne se trouve déjà, offre ce service elle-même"),
        )),
        HandTo::DeliveryPartner => partner.map(|i| knowledge.partners[i].reason.clone()),
    };
    (agency, why, delivery)
}

fn channel_name(channel: Channel) -> (&'static str, &'static str) {
    match channel {
        Channel::Online => ("online", "en ligne"),
        Channel::Telephone => ("by telephone", "par téléphone"),
        Channel::InPerson => ("in person", "en personne"),
        Channel::Mail => ("by mail", "par la poste"),
        Channel::Email => ("by email", "par courriel"),
        Channel::Fax => ("by fax", "par télécopieur"),
        Channel::Other => ("by other means", "par d'autres moyens"),
    }
}

/// Channels that serve a need well, from most to least suited.
fn suited(need: AccessibilityNeed) -> &'static [Channel] {
    match need {
        AccessibilityNeed::ScreenReader => &[Channel::Online, Channel::Telephone],
        AccessibilityNeed::LargePrint | AccessibilityNeed::Braille => {
            &[Channel::Mail, Channel::InPerson]
        }
        AccessibilityNeed::SignLanguage | AccessibilityNeed::HearingAssistance => {
            &[Channel::InPerson, Channel::Online, Channel::Email]
        }
        AccessibilityNeed::Mobility => &[Channel::Online, Channel::Telephone, Channel::Mail],
        AccessibilityNeed::PlainLanguage => &[Channel::InPerson, Channel::Telephone],
        AccessibilityNeed::Interpreter => &[Channel::Telephone, Channel::InPerson],
    }
}

/// How the service's channels fit the preferred channel and the accessibility needs.
pub(super) fn channel_fit(service: &Service, context: &Context) -> ChannelFit {
    let offered = service.channels.clone();
    let list = |fr: bool| {
        offered
            .iter()
            .map(|c| {
                if fr {
                    channel_name(*c).1
                } else {
                    channel_name(*c).0
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut en = if offered.is_empty() {
        "The catalogue lists no channel for it".to_owned()
    } else {
        format!("Offered {}", list(false))
    };
    let mut fr = if offered.is_empty() {
        "Le répertoire n'indique aucun mode de prestation".to_owned()
    } else {
        format!("Offert {}", list(true))
    };
    let preferred_offered = context
        .preferred_channel
        .is_some_and(|c| offered.contains(&c));
    if let Some(preferred) = context.preferred_channel {
        let (pen, pfr) = channel_name(preferred);
        if preferred_offered {
            en.push_str(&format!("; your preferred channel ({pen}) is offered"));
            fr.push_str(&format!("; votre mode préféré ({pfr}) est offert"));
        } else {
            en.push_str(&format!("; your preferred channel ({pen}) is not listed"));
            fr.push_str(&format!("; votre mode préféré ({pfr}) n'est pas indiqué"));
        }
    }
    for need in &context.accessibility {
        if let Some(channel) = suited(*need).iter().find(|c| offered.contains(c)) {
            let (cen, cfr) = channel_name(*channel);
            en.push_str(&format!("; for {} needs, {cen} suits best", need.code()));
            fr.push_str(&format!(
                "; pour le besoin « {} », le mode {cfr} convient le mieux",
                need.code()
            ));
        }
    }
    ChannelFit {
        offered,
        preferred_offered,
        explanation: text(en, fr),
    }
}

fn audience_words(a: Audience) -> (&'static str, &'static str) {
    match a {
        Audience::Persons => ("people", "les personnes"),
        Audience::Businesses => ("businesses", "les entreprises"),
        Audience::NonProfits => ("non-profits", "les organismes sans but lucratif"),
        Audience::Governments => ("governments", "les gouvernements"),
        Audience::PublicServants => ("public servants", "les fonctionnaires"),
    }
}

fn client_words(c: ClientKind) -> (&'static str, &'static str) {
    match c {
        ClientKind::Person => ("a person", "une personne"),
        ClientKind::Business => ("a business", "une entreprise"),
        ClientKind::NonProfit => ("a non-profit", "un organisme sans but lucratif"),
        ClientKind::Government => ("a government", "un gouvernement"),
    }
}

/// Every reason but the matched words.
pub(super) fn describe(
    candidate: &mut Candidate,
    service: &Service,
    snapshot: &Snapshot,
    client: ClientKind,
    delivery: Option<Text>,
    evidence: Option<Evidence>,
) {
    let knowledge = &snapshot.routing().knowledge;
    if let Some(e) = evidence.filter(|e| e.semantic_rank.is_some_and(|r| r < 10)) {
        let texts = vectors::texts_in(service, knowledge.service(&service.id), e.semantic_french);
        if let Some(closest) = texts.get(usize::from(e.semantic_text)) {
            candidate.reasons.push(reason(
                ReasonKind::SimilarMeaning,
                text(
                    format!("Close in meaning to how people ask for it: “{closest}”"),
                    format!("Proche du sens de la façon dont on le demande : « {closest} »"),
                ),
            ));
        }
    }
    for id in &candidate.life_events {
        if let Some(event) = snapshot.life_event(id) {
            let condition = event.services.iter().find(|s| s.service_id == service.id);
            let (cen, cfr) = condition.map_or((String::new(), String::new()), |c| {
                (
                    format!(": {}", c.condition.en),
                    format!(" : {}", c.condition.fr),
                )
            });
            candidate.reasons.push(reason(
                ReasonKind::LifeEvent,
                text(
                    format!("Part of the life event “{}”{cen}", event.name.en),
                    format!(
                        "Fait partie de l'événement de vie « {} »{cfr}",
                        event.name.fr
                    ),
                ),
            ));
        }
    }
    let audience = audience(service, knowledge);
    if !audience.is_empty() {
        let names = |fr: bool| {
            audience
                .iter()
                .map(|a| {
                    if fr {
                        audience_words(*a).1
                    } else {
                        audience_words(*a).0
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (cen, cfr) = client_words(client);
        let fits = audience.iter().any(|a| a.serves(client));
        let (en, fr) = if fits {
            (
                format!("For {}, and the need is {cen}'s", names(false)),
                format!("Pour {}, et le besoin est celui d'{cfr}", names(true)),
            )
        } else {
            (
                format!(
                    "For {}, while the need reads as {cen}'s: ranked lower",
                    names(false)
                ),
                format!(
                    "Pour {}, alors que le besoin semble être celui d'{cfr} : classé plus bas",
                    names(true)
                ),
            )
        };
        candidate
            .reasons
            .push(reason(ReasonKind::Audience, text(en, fr)));
    }
    if let Some(eligibility) = knowledge
        .service(&service.id)
        .and_then(|k| k.eligibility.as_ref())
    {
        let (en, fr) = match candidate.eligibility {
            Some(Status::Failed) => (
                "does not fit your situation: ranked lower",
                "ne correspond pas à votre situation : classé plus bas",
            ),
            Some(Status::Met) => ("fits your situation", "correspond à votre situation"),
            _ => (
                "may apply; not enough is known to say",
                "pourrait s'appliquer; on n'en sait pas assez pour le dire",
            ),
        };
        candidate.reasons.push(reason(
            ReasonKind::Eligibility,
            text(
                format!("Eligibility {en}. {}", eligibility.rule.en),
                format!("L'admissibilité {fr}. {}", eligibility.rule.fr),
            ),
        ));
    }
    if let Some(delivery) = delivery {
        candidate
            .reasons
            .push(reason(ReasonKind::Delivery, delivery));
    }
    candidate.reasons.push(reason(
        ReasonKind::Channel,
        candidate.channel_fit.explanation.clone(),
    ));
    if let Some(standard) = service.standards.first() {
        candidate.reasons.push(reason(
            ReasonKind::Standard,
            text(
                format!("Published standard: {}", standard.text.en.trim()),
                format!("Norme publiée : {}", standard.text.fr.trim()),
            ),
        ));
    }
}

/// The named service, said first.
pub(super) fn named(mut candidate: Candidate) -> Candidate {
    candidate.reasons.insert(
        0,
        reason(
            ReasonKind::Named,
            text(
                "The service was named in the request",
                "Le service a été nommé dans la demande",
            ),
        ),
    );
    candidate
}

/// A word's stem for matching: its first five letters.
fn stem(word: &str) -> &str {
    word.char_indices().nth(5).map_or(word, |(i, _)| &word[..i])
}

/// Adds the words of the need that match the service's text, and the lexicon phrases whose
/// terms it holds, as the first reason.
pub(super) fn matched(
    mut candidate: Candidate,
    service: &Service,
    need: &str,
    lexicon: &[(String, String)],
    snapshot: &Snapshot,
    evidence: Evidence,
) -> Candidate {
    if evidence.lexical_rank.is_none() {
        return candidate;
    }
    let knowledge = snapshot.routing().knowledge.service(&service.id);
    let mut haystack: Vec<String> = vec![service.name.en.clone(), service.name.fr.clone()];
    haystack.extend(service.keywords.iter().cloned());
    if let Some(k) = knowledge {
        haystack.extend(k.keywords.en.iter().chain(&k.keywords.fr).cloned());
        haystack.extend(k.phrasings.en.iter().chain(&k.phrasings.fr).cloned());
    }
    let normalized: Vec<String> = haystack.iter().map(|h| normalize(h)).collect();
    let mut matches: Vec<(String, String)> = Vec::new();
    for (phrase, term) in lexicon {
        let wanted = normalize(term);
        if normalized.iter().any(|h| h.contains(wanted.as_str()))
            && !matches.iter().any(|(p, _)| p == phrase)
        {
            matches.push((phrase.clone(), term.clone()));
        }
    }
    for word in without_noise(need).split_whitespace() {
        if word.chars().count() < 4 || matches.iter().any(|(w, _)| w.split(' ').any(|x| x == word))
        {
            continue;
        }
        let prefix = stem(word);
        let hit = normalized.iter().find_map(|h| {
            h.split_whitespace()
                .find(|w| w.starts_with(prefix))
                .map(str::to_owned)
        });
        if let Some(hit) = hit {
            matches.push((word.to_owned(), hit));
        }
        if matches.len() >= 8 {
            break;
        }
    }
    if !matches.is_empty() {
        let list = matches
            .iter()
            .map(|(w, t)| {
                if w == t {
                    format!("“{w}”")
                } else {
                    format!("“{w}” → “{t}”")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        candidate.reasons.insert(
            0,
            Reason {
                kind: ReasonKind::MatchedWords,
                text: text(
                    format!("Your words match the service: {list}"),
                    format!("Vos mots correspondent au service : {list}"),
                ),
                matches,
            },
        );
    }
    candidate
}
