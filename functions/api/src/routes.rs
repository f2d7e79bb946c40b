use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::ApiError;

use crate::handlers::webhooks;

/// Every route of the API and its page, as the handlers at each path, each routed by its
/// OpenAPI annotation (path and methods). [`documented_router`] builds the
/// Router with the OpenAPI document from it (for [`generate_openapi`]),
/// [`router`] the same Router alone: a function's init has no use for the
/// document, and building it was 40% of the api's init.
macro_rules! api_routes {
    ($add:ident, $r:ident) => {
        $add!($r: crate::handlers::receipts::health);
        $add!($r: crate::openapi::document);
        $add!($r: crate::handlers::receipts::upload, crate::handlers::receipts::list, crate::handlers::deletion::delete_before);
        $add!($r: crate::handlers::receipts::upload_url);
        $add!($r: crate::handlers::ocr::process_all);
        $add!($r: crate::handlers::ocr::queue_status);
        $add!($r: crate::handlers::ocr::redrive);
        $add!($r: crate::handlers::ocr::retry_failed);
        $add!($r: crate::handlers::ocr::cancel_all);
        $add!($r: crate::handlers::ocr::stats);
        $add!($r: crate::handlers::stream::events);
        $add!($r: crate::handlers::receipts::get_receipt, crate::handlers::deletion::delete_receipt);
        $add!($r: crate::handlers::ocr::retry);
        $add!($r: crate::handlers::ocr::cancel);
        $add!($r: crate::handlers::settings::get_settings, crate::handlers::settings::put_settings);
        $add!($r: crate::handlers::deletion::delete_me);
        $add!($r: crate::handlers::deletion::delete_user);
        $add!($r: crate::handlers::deletion::get_erasure);
        $add!($r: webhooks::create, webhooks::list);
        $add!($r: webhooks::delete);
        $add!($r: webhooks::test);
        $add!($r: webhooks::deliveries);
        $add!($r: webhooks::resend);
        $add!($r: crate::page::shell::shell);
        $add!($r: crate::page::assets::asset);
        $add!($r: crate::page::shell::dev_sign_in);
        $add!($r: crate::page::shell::session);
        $add!($r: crate::page::list::receipts);
        $add!($r: crate::page::list::failed);
        $add!($r: crate::page::receipt::receipt);
        $add!($r: crate::page::receipt::raw_text);
        $add!($r: crate::page::figures::user_stats);
        $add!($r: crate::page::figures::ops);
    };
}

/// Adds the handlers of one path to an `OpenApiRouter`, with their part of
/// the document.
macro_rules! documented {
    ($r:ident: $($handler:tt)+) => {
        $r = $r.routes(utoipa_axum::routes!($($handler)+));
    };
}

/// Adds the handlers of one path to a plain `Router`: only their
/// annotations' path and methods are read.
macro_rules! served {
    ($r:ident: $($first:ident $(:: $rest:ident)*),+) => {
        $(
            let path = <$crate::routes::annotation!(@in [] $first $(:: $rest)*) as utoipa::Path>::path();
            let mut methods = axum::routing::MethodRouter::new();
            for method in <$crate::routes::annotation!(@in [] $first $(:: $rest)*) as utoipa::Path>::methods() {
                methods = methods.on(
                    utoipa_axum::PathItemExt::to_method_filter(&method),
                    $first $(:: $rest)*,
                );
            }
            $r = $r.route(&path, methods);
        )+
    };
}

/// The type `#[utoipa::path]` makes for a handler: `a::b::f` → `a::b::__path_f`.
macro_rules! annotation {
    (@in [$($module:ident)*] $handler:ident) => {
        utoipa_axum::paste! { $($module ::)* [<__path_ $handler>] }
    };
    (@in [$($module:ident)*] $next:ident :: $($rest:tt)+) => {
        $crate::routes::annotation!(@in [$($module)* $next] $($rest)+)
    };
}

use annotation;

/// The Router with the OpenAPI document (see [`api_routes`]).
pub(crate) fn documented_router() -> OpenApiRouter<AppState> {
    let mut r = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi());
    api_routes!(documented, r);
    r
}

/// The API's Router: every route of [`api_routes`], without the document.
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(
        state.config.common.storage.max_upload_bytes
            + crate::handlers::receipts::MULTIPART_OVERHEAD,
    )
    .unwrap_or(usize::MAX);
    let mut r = Router::new();
    api_routes!(served, r);
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The event stream's route alone, for the streaming function.
pub fn events_router(state: AppState) -> Router {
    Router::new()
        .route("/receipts/events", get(crate::handlers::stream::events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The document the handlers' annotations make (from the Router's own
/// route list), as committed: pretty JSON and a final newline.
pub fn generate_openapi() -> String {
    let (_, mut doc) = crate::routes::documented_router().split_for_parts();
    // OpenAPI 3.1's `webhooks`, which utoipa does not model: a top-level
    // member, as its extensions are.
    doc.extensions
        .get_or_insert_with(Default::default)
        .insert("webhooks".into(), crate::webhook_doc::section());
    let mut json = doc
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
