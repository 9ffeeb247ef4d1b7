//! [`document_problems`]: makes a service's OpenAPI say what its error responses really are.
//!
//! Every error either service returns is RFC 9457 `application/problem+json` (see
//! [`crate::http`]). The handlers' annotations name the errors special to each operation; this
//! adds the ones any operation can return (a malformed request, an unknown path, a body over
//! the limit or too slow, throttling, a dependency down; 401/403 where the operation needs a
//! token) and gives every error response the problem content type and schema.

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Content, OpenApi, RefOr, Response};

use crate::http::PROBLEM_JSON;

/// The name of the problem schema in `components.schemas`.
pub const PROBLEM_SCHEMA: &str = "Problem";

fn problem_schema() -> RefOr<utoipa::openapi::Schema> {
    <crate::http::Problem as utoipa::PartialSchema>::schema()
}

fn problem_content() -> Content {
    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
        PROBLEM_SCHEMA,
    ))))
}

/// Errors any operation can return, with what they mean.
const ALWAYS: [(&str, &str); 7] = [
    ("400", "Malformed request (body, query or path)"),
    ("404", "No such resource"),
    ("408", "The request body did not arrive in time"),
    ("413", "The request body is too large"),
    ("422", "A value is not acceptable"),
    ("429", "Too many requests; see Retry-After"),
    (
        "503",
        "A dependency is unavailable, or the server is busy; see Retry-After",
    ),
];

fn document(op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut wanted: Vec<(&str, &str)> = ALWAYS.to_vec();
    if secured {
        wanted.push(("401", "Missing, invalid or expired access token"));
        wanted.push(("403", "The account may not do this"));
    }
    for (status, description) in wanted {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content(PROBLEM_JSON, problem_content())
                        .build(),
                )
            });
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(Response { content, .. })) = (is_error, response) {
            // Whatever the annotation said, errors are problem+json.
            content.clear();
            content.insert(PROBLEM_JSON.to_string(), problem_content());
        }
    }
}

/// Adds the problem schema and the error responses of the module doc to `openapi`.
pub fn document_problems(openapi: &mut OpenApi) {
    openapi
        .components
        .get_or_insert_with(Default::default)
        .schemas
        .insert(PROBLEM_SCHEMA.to_string(), problem_schema());
    for item in openapi.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            document(op);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_schema_is_the_problem_type() {
        assert_eq!(
            <crate::http::Problem as utoipa::ToSchema>::name(),
            PROBLEM_SCHEMA
        );
        let mut doc = OpenApi::default();
        document_problems(&mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        let problem = &json["components"]["schemas"][PROBLEM_SCHEMA];
        assert_eq!(problem["description"], "RFC 9457 problem details");
        assert_eq!(problem["properties"]["status"]["minimum"], 400);
        assert_eq!(problem["required"].as_array().map(Vec::len), Some(5));
    }
}
