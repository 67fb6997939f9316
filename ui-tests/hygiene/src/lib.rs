//! Generated code must not depend on the prelude or on the crate's name: this crate has no
//! prelude, and depends on protoless under another name (see its Cargo.toml), so it compiles
//! only if every path the macros generate is absolute and goes through `crate = "..."`.
#![no_implicit_prelude]
#![allow(missing_docs)]

#[derive(::renamed::Message)]
#[proto(crate = "::renamed")]
pub struct Req {
    pub n: i32,
    pub tags: ::std::vec::Vec<::std::string::String>,
    pub maybe: ::core::option::Option<i64>,
    pub color: Color,
}

#[derive(::renamed::Message)]
#[proto(crate = "::renamed")]
pub struct Resp {
    pub value: f64,
}

#[derive(::renamed::Enumeration, ::core::clone::Clone, ::core::marker::Copy)]
#[proto(crate = "::renamed")]
pub enum Color {
    Unspecified = 0,
    Red = 1,
}

#[::renamed::service(package = "hygiene", crate = "::renamed")]
pub trait Calculator {
    async fn calc(&self, req: Req) -> ::core::result::Result<Resp, ::renamed::Status>;
    async fn totals(
        &self,
        reqs: ::renamed::Streaming<Req>,
    ) -> ::core::result::Result<
        impl ::renamed::Stream<Item = ::core::result::Result<Resp, ::renamed::Status>>,
        ::renamed::Status,
    >;
}

pub struct Implementation;

impl Calculator for Implementation {
    async fn calc(&self, req: Req) -> ::core::result::Result<Resp, ::renamed::Status> {
        ::core::result::Result::Ok(Resp {
            value: ::core::convert::From::from(req.n),
        })
    }

    async fn totals(
        &self,
        _reqs: ::renamed::Streaming<Req>,
    ) -> ::core::result::Result<
        impl ::renamed::Stream<Item = ::core::result::Result<Resp, ::renamed::Status>>,
        ::renamed::Status,
    > {
        ::core::result::Result::Ok(::renamed::stream::iter(::std::vec::Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::{CalculatorServer, Implementation};

    #[test]
    fn generated_code_compiles_and_works_without_prelude_under_another_name() {
        let _server = CalculatorServer::new(Implementation);
        let proto = CalculatorServer::schema().to_proto().unwrap();
        ::std::assert!(proto.contains("rpc Totals(stream Req) returns (stream Resp);"));
        ::std::assert!(proto.contains("  Color color = 4;"));
    }
}
