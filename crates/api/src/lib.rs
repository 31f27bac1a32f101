//! The REST API's request and response types, shared by the server (which
//! answers with them) and the CLI (which decodes them).
