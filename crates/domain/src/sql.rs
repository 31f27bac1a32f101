//! The domain's enums as SQLite TEXT columns (feature `sqlx`), spelled as
//! their `as_str`/`parse` spell them, so a row holds a parsed value and a
//! bad one is a decode error rather than a default.

use crate::deployment::DeploymentStatus;
use crate::environment::{Platform, ReadyAction};
use crate::pipeline::RunStatus;
use crate::service_deployment::progress::ServiceDeploymentStatus;
use crate::service_deployment::{DeploymentController, TimeoutAction};
use crate::user::Role;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

macro_rules! text_column {
    ($type:ty, $as_str:ident) => {
        impl Type<Sqlite> for $type {
            fn type_info() -> SqliteTypeInfo {
                <&str as Type<Sqlite>>::type_info()
            }

            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <&str as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'q> Encode<'q, Sqlite> for $type {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<SqliteArgumentValue<'q>>,
            ) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'q, Sqlite>>::encode(self.$as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $type {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$type>::parse(<&str as Decode<'r, Sqlite>>::decode(
                    value,
                )?)?)
            }
        }
    };
}

text_column!(Platform, as_str);
text_column!(DeploymentStatus, as_str);
text_column!(ReadyAction, as_aws);
text_column!(RunStatus, as_str);
text_column!(Role, as_str);
text_column!(DeploymentController, as_str);
text_column!(ServiceDeploymentStatus, as_str);
text_column!(TimeoutAction, as_str);
