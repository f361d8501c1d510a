//! PSP's volume types (`FSType`): what the view classifies a mount as, and
//! what a policy's `volumes` lists.

use serde::{Deserialize, Serialize};

/// Declares [`VolumeType`] with its PSP names, in PSP's order.
macro_rules! volume_types {
    ($($variant:ident = $name:literal,)*) => {
        /// One of PSP's volume types. Serialized by its PSP name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum VolumeType {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl VolumeType {
            /// Every type, in PSP's order.
            pub const ALL: &[VolumeType] = &[$(VolumeType::$variant,)*];

            /// This type as a mount's (a `'static` borrow for every type).
            pub fn as_mount_volume(self) -> &'static MountVolume {
                static KNOWN: &[MountVolume] = &[$(MountVolume::Known(VolumeType::$variant),)*];
                &KNOWN[self as usize]
            }

            /// The name PSP's `volumes` and the decision record spell.
            pub fn name(self) -> &'static str {
                match self {
                    $(VolumeType::$variant => $name,)*
                }
            }

            /// The type PSP calls `name` (exactly: PSP's names are case-sensitive).
            pub fn from_name(name: &str) -> Option<VolumeType> {
                match name {
                    $($name => Some(VolumeType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

volume_types! {
    AzureFile = "azureFile",
    AzureDisk = "azureDisk",
    Flocker = "flocker",
    FlexVolume = "flexVolume",
    HostPath = "hostPath",
    EmptyDir = "emptyDir",
    GcePersistentDisk = "gcePersistentDisk",
    AwsElasticBlockStore = "awsElasticBlockStore",
    GitRepo = "gitRepo",
    Secret = "secret",
    Nfs = "nfs",
    Iscsi = "iscsi",
    Glusterfs = "glusterfs",
    PersistentVolumeClaim = "persistentVolumeClaim",
    Rbd = "rbd",
    Cinder = "cinder",
    CephFs = "cephFS",
    DownwardApi = "downwardAPI",
    Fc = "fc",
    ConfigMap = "configMap",
    VsphereVolume = "vsphereVolume",
    Quobyte = "quobyte",
    PhotonPersistentDisk = "photonPersistentDisk",
    Projected = "projected",
    PortworxVolume = "portworxVolume",
    ScaleIo = "scaleIO",
    Storageos = "storageos",
    Csi = "csi",
    Ephemeral = "ephemeral",
    Image = "image",
}

impl VolumeType {
    /// Whether a PersistentVolume can be of this type (PSP's plugin list).
    pub fn backs_persistent_volumes(self) -> bool {
        use VolumeType::*;
        matches!(
            self,
            AzureFile
                | AzureDisk
                | Flocker
                | FlexVolume
                | GcePersistentDisk
                | AwsElasticBlockStore
                | Nfs
                | Iscsi
                | Glusterfs
                | Rbd
                | Cinder
                | CephFs
                | Fc
                | VsphereVolume
                | Quobyte
                | PhotonPersistentDisk
                | PortworxVolume
                | ScaleIo
                | Storageos
                | Csi
        )
    }
}

/// The other names of a volume whose plugin can back a PersistentVolume: on
/// the node, an inline one looks the same as a claim or a generic ephemeral
/// volume.
const PV_ALSO: &[MountVolume] = &[
    MountVolume::Known(VolumeType::PersistentVolumeClaim),
    MountVolume::Known(VolumeType::Ephemeral),
];

/// The other name of a volume of a plugin this build does not know.
const CLAIM_ALSO: &[MountVolume] = &[MountVolume::Known(VolumeType::PersistentVolumeClaim)];

impl std::fmt::Display for VolumeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for MountVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a mount counts as: a type PSP names, or a kubelet in-tree plugin
/// this build does not know (named as kubelet names its directory), which
/// no policy can list by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MountVolume {
    Known(VolumeType),
    Unknown(Box<str>),
}

impl MountVolume {
    pub fn name(&self) -> &str {
        match self {
            MountVolume::Known(t) => t.name(),
            MountVolume::Unknown(name) => name,
        }
    }

    pub fn known(&self) -> Option<VolumeType> {
        match self {
            MountVolume::Known(t) => Some(*t),
            MountVolume::Unknown(_) => None,
        }
    }

    /// The other types that admit a mount of this type, as the node sees
    /// it: a claim's volume looks like its plugin's.
    pub fn also(&self) -> &'static [MountVolume] {
        match self {
            MountVolume::Known(t) if t.backs_persistent_volumes() => PV_ALSO,
            MountVolume::Known(_) => &[],
            MountVolume::Unknown(_) => CLAIM_ALSO,
        }
    }
}

/// One entry of a policy's `volumes`: a type, `*` (every type) or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllowedVolume {
    Type(VolumeType),
    Any,
    None,
}

impl AllowedVolume {
    pub fn from_name(name: &str) -> Option<AllowedVolume> {
        match name {
            "*" => Some(AllowedVolume::Any),
            "none" => Some(AllowedVolume::None),
            _ => VolumeType::from_name(name).map(AllowedVolume::Type),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AllowedVolume::Type(t) => t.name(),
            AllowedVolume::Any => "*",
            AllowedVolume::None => "none",
        }
    }

    /// Whether this entry admits a mount counted as `volume`: `*` admits
    /// every one, a type the mounts of that type.
    pub fn admits(self, volume: &MountVolume) -> bool {
        match self {
            AllowedVolume::Any => true,
            AllowedVolume::None => false,
            AllowedVolume::Type(t) => volume.known() == Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_psps() {
        assert_eq!(VolumeType::ALL.len(), 30);
        for t in VolumeType::ALL {
            assert_eq!(VolumeType::from_name(t.name()), Some(*t));
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.name())
            );
        }
        assert_eq!(VolumeType::from_name("configmap"), None);
        assert_eq!(VolumeType::from_name("*"), None);
        assert_eq!(AllowedVolume::from_name("*"), Some(AllowedVolume::Any));
        assert_eq!(AllowedVolume::from_name("none"), Some(AllowedVolume::None));
    }

    #[test]
    fn only_a_star_admits_an_unknown_plugin() {
        let unknown = MountVolume::Unknown("future".into());
        let secret = MountVolume::Known(VolumeType::Secret);
        assert!(AllowedVolume::Any.admits(&unknown) && AllowedVolume::Any.admits(&secret));
        assert!(!AllowedVolume::None.admits(&secret));
        assert!(AllowedVolume::Type(VolumeType::Secret).admits(&secret));
        assert!(!AllowedVolume::Type(VolumeType::Secret).admits(&unknown));
        assert!(!AllowedVolume::Type(VolumeType::ConfigMap).admits(&secret));
    }
}
