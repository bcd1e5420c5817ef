//! Free-text search over the catalogue: a tantivy index in memory, with English and French
//! analyzers (stemming, stop words, accent folding), built from a snapshot and swapped with it.
//!
//! Citizens' words are never parsed as query syntax: each field's analyzer turns the text into terms
//! and every term is an optional clause, so `-`, `:` or `"` cannot cause an error.

use tantivy::{
    Index, IndexReader, ReloadPolicy, TantivyDocument, Term,
    collector::TopDocs,
    query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{
        Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
    },
    tokenizer::{
        AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
        StopWordFilter, TextAnalyzer,
    },
};

use crate::{
    domain::catalog::{Agency, LifeEvent, Service},
    routing::knowledge::ServiceKnowledge,
};

/// Everything the index needs to know about a service.
#[derive(Debug)]
pub struct SearchDocument<'a> {
    pub service: &'a Service,
    pub agency: Option<&'a Agency>,
    pub life_events: Vec<&'a LifeEvent>,
    /// How people ask for it, for routing; `SearchServices` does not read it.
    pub knowledge: Option<&'a ServiceKnowledge>,
}

/// Which fields a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// The catalogue's own text: what `SearchServices` reads.
    Catalogue,
    /// How people ask for each service (routing knowledge).
    Plain,
    /// Both.
    All,
}

/// Why the index could not be built or queried.
#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct SearchError(#[from] tantivy::TantivyError);

/// A searchable field, its analyzer and its weight in the score.
struct WeightedField {
    field: Field,
    analyzer: &'static str,
    boost: f32,
    /// Read by `SearchServices`; the others only by routing.
    base: bool,
}

/// An in-memory search index over services.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Vec<WeightedField>,
    /// Service id of each document, by document id (one segment, documents in insertion order).
    ids: Vec<String>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("docs", &self.reader.searcher().num_docs())
            .finish()
    }
}

const EN: &str = "sw_en";
const FR: &str = "sw_fr";

fn analyzer(language: Language) -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::new(language).expect("tantivy ships English and French stop words"))
        .filter(Stemmer::new(language))
        .build()
}

impl SearchIndex {
    /// Indexes `documents`.
    pub fn build<'a>(
        documents: impl IntoIterator<Item = SearchDocument<'a>>,
    ) -> Result<Self, SearchError> {
        let mut builder = Schema::builder();
        let id = builder.add_text_field("id", STRING | STORED);
        let text = |analyzer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(analyzer)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
        };
        // (name, analyzer, boost): names count most, then curated keywords, then the rest.
        // Routing also reads how people ask for each service (`plain_*`).
        let specs: [(&str, &'static str, f32, bool); 10] = [
            ("name_en", EN, 3.0, true),
            ("name_fr", FR, 2.0, true),
            ("keywords_en", EN, 2.5, true),
            ("keywords_fr", FR, 1.5, true),
            ("description_en", EN, 1.0, true),
            ("description_fr", FR, 0.7, true),
            ("context_en", EN, 0.8, true),
            ("context_fr", FR, 0.5, true),
            ("plain_en", EN, 1.5, false),
            ("plain_fr", FR, 1.5, false),
        ];
        let fields: Vec<WeightedField> = specs
            .iter()
            .map(|(name, analyzer, boost, base)| WeightedField {
                field: builder.add_text_field(name, text(analyzer)),
                analyzer,
                boost: *boost,
                base: *base,
            })
            .collect();
        let index = Index::create_in_ram(builder.build());
        index.tokenizers().register(EN, analyzer(Language::English));
        index.tokenizers().register(FR, analyzer(Language::French));
        let mut writer = index.writer_with_num_threads(1, 32_000_000)?;
        let mut ids = Vec::new();
        for doc in documents {
            ids.push(doc.service.id.clone());
            writer.add_document(Self::document(id, &fields, &doc))?;
        }
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Self::check_document_order(&reader, id, &ids)?;
        Ok(Self {
            index,
            reader,
            fields,
            ids,
        })
    }

    /// Confirms that document ids follow insertion order (one segment), so a hit maps to its
    /// service without reading the document store on every query.
    fn check_document_order(
        reader: &IndexReader,
        id: Field,
        ids: &[String],
    ) -> Result<(), SearchError> {
        let searcher = reader.searcher();
        let stored = |doc: usize| -> Option<String> {
            let address = tantivy::DocAddress::new(0, u32::try_from(doc).ok()?);
            let document: TantivyDocument = searcher.doc(address).ok()?;
            document
                .get_first(id)
                .and_then(|v| v.as_str().map(str::to_owned))
        };
        let in_order = searcher.segment_readers().len() <= 1
            && ids
                .iter()
                .enumerate()
                .all(|(doc, expected)| stored(doc).as_deref() == Some(expected.as_str()));
        if in_order {
            Ok(())
        } else {
            Err(SearchError(tantivy::TantivyError::InternalError(
                "search documents are not in insertion order".to_owned(),
            )))
        }
    }

    fn document(id: Field, fields: &[WeightedField], doc: &SearchDocument<'_>) -> TantivyDocument {
        let s = doc.service;
        let keywords = s.keywords.join(" ; ");
        let mut context_en: Vec<&str> = s.programs.iter().map(|p| p.name.en.as_str()).collect();
        let mut context_fr: Vec<&str> = s.programs.iter().map(|p| p.name.fr.as_str()).collect();
        if let Some(agency) = doc.agency {
            context_en.push(&agency.name.en);
            context_fr.push(&agency.name.fr);
            context_en.extend(agency.keywords.iter().map(String::as_str));
        }
        for event in &doc.life_events {
            context_en.push(&event.name.en);
            context_fr.push(&event.name.fr);
            context_en.extend(event.keywords.iter().map(String::as_str));
        }
        let plain = |phrasings: &[String], keywords: &[String]| {
            phrasings
                .iter()
                .chain(keywords)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" ; ")
        };
        let (plain_en, plain_fr) = doc.knowledge.map_or_else(Default::default, |k| {
            (
                plain(&k.phrasings.en, &k.keywords.en),
                plain(&k.phrasings.fr, &k.keywords.fr),
            )
        });
        let values = [
            s.name.en.clone(),
            s.name.fr.clone(),
            keywords.clone(),
            keywords,
            s.description.en.clone(),
            s.description.fr.clone(),
            context_en.join(" ; "),
            context_fr.join(" ; "),
            plain_en,
            plain_fr,
        ];
        let mut document = TantivyDocument::default();
        document.add_text(id, &s.id);
        for (field, value) in fields.iter().zip(values) {
            document.add_text(field.field, value);
        }
        document
    }

    /// Service ids matching `text`, best first, with scores; at most `limit`.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<(String, f32)>, SearchError> {
        self.run(&self.query(&[(text, 1.0)], Fields::Catalogue), limit)
    }

    /// Service ids matching the weighted texts over `fields`: routing's lexical signals, with the
    /// need and its lexicon expansions.
    pub fn search_fields(
        &self,
        texts: &[(&str, f32)],
        fields: Fields,
        limit: usize,
    ) -> Result<Vec<(String, f32)>, SearchError> {
        self.run(&self.query(texts, fields), limit)
    }

    fn run(&self, query: &BooleanQuery, limit: usize) -> Result<Vec<(String, f32)>, SearchError> {
        let searcher = self.reader.searcher();
        let hits = searcher.search(query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        Ok(hits
            .into_iter()
            .filter_map(|(score, address)| {
                let id = self.ids.get(usize::try_from(address.doc_id).ok()?)?;
                Some((id.clone(), score))
            })
            .collect())
    }

    /// One optional clause per analysed term and field, weighted by the field and the text; a
    /// term repeated across the texts counts once, at its first weight.
    fn query(&self, texts: &[(&str, f32)], fields: Fields) -> BooleanQuery {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let wanted = |f: &&WeightedField| match fields {
            Fields::Catalogue => f.base,
            Fields::Plain => !f.base,
            Fields::All => true,
        };
        for weighted in self.fields.iter().filter(wanted) {
            let Some(mut analyzer) = self.index.tokenizers().get(weighted.analyzer) else {
                continue;
            };
            let mut seen: Vec<String> = Vec::new();
            for (text, weight) in texts {
                let mut stream = analyzer.token_stream(text);
                while let Some(token) = stream.next() {
                    if seen.contains(&token.text) {
                        continue;
                    }
                    seen.push(token.text.clone());
                    let term = Term::from_field_text(weighted.field, &token.text);
                    let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
                    clauses.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(query), weighted.boost * weight)),
                    ));
                }
            }
        }
        BooleanQuery::new(clauses)
    }
}
