//! The protobuf codec of every service this crate generates: prost's, except that a request that
//! does not decode is INVALID_ARGUMENT with `ErrorInfo` reason `MALFORMED_REQUEST`, never
//! INTERNAL with the decoder's text (the decoder's text is logged at debug level).

use std::marker::PhantomData;

use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;

use crate::error::{AppError, MalformedPart};

/// prost encoding with the service's decode errors.
#[derive(Debug, Clone)]
pub struct ProstCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for ProstCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for ProstCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder { _type: PhantomData }
    }
}

/// Decodes one message of type `U`.
#[derive(Debug, Clone)]
pub struct ProstDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for ProstDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|error| {
            tracing::debug!(%error, "request message does not decode");
            Status::from(AppError::Malformed {
                part: MalformedPart::Message,
                description: "the message is not a valid protobuf encoding of the method's request type",
            })
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}
